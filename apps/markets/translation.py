from modeltranslation.translator import TranslationOptions, register

from apps.markets.models import Market


@register(Market)
class MarketTranslationOptions(TranslationOptions):
    fields = ("name",)
