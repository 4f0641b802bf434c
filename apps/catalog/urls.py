from django.urls import path

from apps.catalog import views

app_name = "catalog"
urlpatterns = [
    path("search", views.search, name="search"),
    path("c/<slug:slug>/", views.category_detail, name="category"),
    path("p/<int:product_id>/", views.product_detail, name="product-short"),
    path("p/<int:product_id>/image.svg", views.product_image, name="product-image"),
    path("p/<int:product_id>/<str:slug>/", views.product_detail, name="product"),
]
