"""Template filters of the dashboard: vocabulary words shown as their labels."""

from django import template

from diary.vocabulary import VOCABULARIES

register = template.Library()

LABELS = {vocabulary.name: {word.name: word.label for word in vocabulary} for vocabulary in VOCABULARIES}


@register.filter
def label(word: str, vocabulary: str) -> str:
    """``{{ "full_bladder"|label:"spasm-trigger" }}`` → "Full bladder" (the word itself if unknown)."""
    return LABELS.get(vocabulary, {}).get(word, word)
