"""Coupons REST API (API.md "Coupons")."""
