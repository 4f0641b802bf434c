from django.urls import path

from apps.catalog.api import views

urlpatterns = [
    path("categories", views.CategoryListApi.as_view(), name="categories"),
    path("products", views.ProductListApi.as_view(), name="products"),
    path("products/popular", views.ProductPopularApi.as_view(), name="products-popular"),
    path("products/<int:product_id>", views.ProductDetailApi.as_view(), name="product-detail"),
]
