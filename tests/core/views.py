"""Small DRF views used only by tests of the shared API machinery (mounted by urls.py)."""

from __future__ import annotations

import time
import uuid

from django.contrib.auth.models import Group
from rest_framework import serializers
from rest_framework.exceptions import PermissionDenied, Throttled
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.core.idempotency import idempotent
from apps.markets.errors import UnknownMarket


class EchoInput(serializers.Serializer):
    name = serializers.CharField(max_length=20)
    quantity = serializers.IntegerField(min_value=1)


class ValidateApi(APIView):
    def post(self, request):
        EchoInput(data=request.data).is_valid(raise_exception=True)
        return Response({"ok": True})


class DomainErrorApi(APIView):
    def get(self, request):
        raise UnknownMarket(market="JP")


class MemberOnlyApi(APIView):
    permission_classes = [IsAuthenticated]

    def get(self, request):
        return Response({"ok": True})


class ForbiddenApi(APIView):
    def get(self, request):
        raise PermissionDenied()


class ThrottledApi(APIView):
    def get(self, request):
        raise Throttled(wait=17)


class CrashApi(APIView):
    def get(self, request):
        raise RuntimeError("boom")


class GroupCreateApi(APIView):
    """Creates a Group (a real row) per execution: tests count rows to count executions."""

    @idempotent()
    def post(self, request):
        data = EchoInput(data=request.data)
        data.is_valid(raise_exception=True)
        if request.query_params.get("sleep"):
            time.sleep(float(request.query_params["sleep"]))
        if request.query_params.get("crash"):
            raise RuntimeError("crash after work")
        if data.validated_data["name"] == "taken":
            raise UnknownMarket(market="XX")
        group = Group.objects.create(name=f"idem-{data.validated_data['name']}-{uuid.uuid4().hex[:12]}")
        return Response(
            {"id": group.pk, "name": group.name}, status=201, headers={"Location": f"/groups/{group.pk}"}
        )
