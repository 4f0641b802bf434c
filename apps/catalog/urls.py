from django.urls import path, re_path

from apps.catalog import views

app_name = "catalog"
urlpatterns = [
    path("search", views.search, name="search"),
    path("c/<slug:slug>/", views.category_detail, name="category"),
    path("p/<int:product_id>/", views.product_detail, name="product-short"),
    path("p/<int:product_id>/image.svg", views.product_image, name="product-image"),
    re_path(
        r"^p/(?P<product_id>[0-9]+)/image\.(?P<lang>ko|en)\.svg$",
        views.product_image,
        name="product-image-lang",
    ),
    path("p/<int:product_id>/<str:slug>/", views.product_detail, name="product"),
]
