"""Serializer building blocks shared by the apps' APIs."""

import re
import uuid
from datetime import UTC, date, datetime
from typing import Any

from rest_framework import serializers

from clinic.vocabulary import Vocabulary

# A whole number as a client writes one in a header, a query or a path: ASCII digits only
# (str.isdigit() also takes "²", which int() refuses), and at most 18, so it always fits in a
# 64-bit primary key and int() never meets Python's limit on long numbers.
WHOLE_NUMBER = re.compile(r"[0-9]{1,18}")


def api_datetime(value: datetime | None) -> str | None:
    """A time as DRF's DateTimeField writes it (UTC, ``Z``), for hand-built representations."""
    if value is None:
        return None
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def validated(serializer_class: type[serializers.Serializer], data: Any, **kwargs: Any) -> dict[str, Any]:
    """The validated data of ``serializer_class``, or a 400 naming each bad field."""
    serializer = serializer_class(data=data, **kwargs)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


class StrictIntegerField(serializers.IntegerField):
    """A JSON number without a fraction: not ``"6"``, ``6.0`` or ``true``.

    DRF's ``IntegerField`` takes all three (a string of digits, a float that is whole, and a
    boolean as 1), so a client bug that sends the wrong type would go unnoticed.
    """

    default_error_messages = {"invalid": "A whole number is required (a JSON number, not a string)."}

    def to_internal_value(self, data: Any) -> int:
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictUUIDField(serializers.UUIDField):
    """A UUID written as a string: DRF's ``UUIDField`` would also read the number 5 as a UUID."""

    def to_internal_value(self, data: Any) -> uuid.UUID:
        if not isinstance(data, str):
            self.fail("invalid", value=data)
        return super().to_internal_value(data)


# Dates a person or a plan can mean. Far from the calendar's ends (years 1 and 9999), where a
# window of a few weeks, or the day after, is already outside what Python's dates can hold.
EARLIEST_DATE = date(1900, 1, 1)
LATEST_DATE = date(2199, 12, 31)


class BoundedDateField(serializers.DateField):
    """An ISO date from ``EARLIEST_DATE`` to ``LATEST_DATE`` (or narrower bounds given)."""

    def __init__(self, *, earliest: date = EARLIEST_DATE, latest: date = LATEST_DATE, **kwargs: Any) -> None:
        self.earliest, self.latest = earliest, latest
        super().__init__(**kwargs)

    def to_internal_value(self, value: Any) -> date:
        day: date = super().to_internal_value(value)
        if not self.earliest <= day <= self.latest:
            raise serializers.ValidationError(f"Give a date from {self.earliest} to {self.latest}.")
        return day


class StrictSerializer(serializers.Serializer):
    """Refuses fields it does not declare, instead of silently dropping them.

    A misspelled field from a mobile client would otherwise lose data without anyone noticing.
    """

    def to_internal_value(self, data: Any) -> Any:
        unknown: dict[str, list[str]] = {}
        if isinstance(data, dict):
            writable = {name for name, field in self.fields.items() if not field.read_only}
            unknown = {name: ["This field is not known."] for name in sorted(set(data) - writable)}
        try:
            value = super().to_internal_value(data)
        except serializers.ValidationError as exc:
            if unknown and isinstance(exc.detail, dict):
                raise serializers.ValidationError({**exc.detail, **unknown}) from None
            raise
        if unknown:
            raise serializers.ValidationError(unknown)
        return value


class StrictModelSerializer(StrictSerializer, serializers.ModelSerializer):
    pass


class VocabularyField(serializers.ChoiceField):
    """One word of a closed vocabulary; the error names the vocabulary."""

    def __init__(self, vocabulary: Vocabulary, **kwargs: Any) -> None:
        self.vocabulary = vocabulary
        kwargs.setdefault("help_text", f"A word of the '{vocabulary.name}' vocabulary (GET /api/v1/vocabularies).")
        super().__init__(choices=vocabulary.choices, **kwargs)
        self.error_messages["invalid_choice"] = f'"{{input}}" is not a word of the {vocabulary.name} vocabulary.'


class VocabularyListField(serializers.ListField):
    """A list of distinct words of one vocabulary.

    Checked in one pass rather than through a child field per item: diary batches carry
    thousands of these words, and errors still name the item (``triggers.1``).
    """

    def __init__(self, vocabulary: Vocabulary, **kwargs: Any) -> None:
        self.vocabulary = vocabulary
        kwargs.setdefault("max_length", len(vocabulary))
        kwargs.setdefault("default", list)
        super().__init__(child=VocabularyField(vocabulary), **kwargs)

    def to_internal_value(self, data: Any) -> list[str]:
        if not isinstance(data, list):
            self.fail("not_a_list", input_type=type(data).__name__)
        if len(data) > len(self.vocabulary):
            self.fail("max_length", max_length=len(self.vocabulary))
        errors = {
            str(index): [f'"{word}" is not a word of the {self.vocabulary.name} vocabulary.']
            for index, word in enumerate(data)
            if not isinstance(word, str) or word not in self.vocabulary
        }
        if errors:
            raise serializers.ValidationError(errors)
        if len(set(data)) != len(data):
            raise serializers.ValidationError("A word is listed twice.")
        return data


class WordAmountListField(serializers.Field):
    """``[{"<word_key>": word, "<amount_key>": number}, ...]`` read as ``{word: number}``.

    For relief measures with how much they helped, therapy minutes, orthosis hours and
    missed doses. Each word at most once; errors name the item and key (``relief.0.helped``).
    """

    def __init__(
        self,
        vocabulary: Vocabulary,
        *,
        word_key: str,
        amount_key: str,
        minimum: float,
        maximum: float,
        integer: bool = True,
        **kwargs: Any,
    ) -> None:
        self.vocabulary, self.word_key, self.amount_key = vocabulary, word_key, amount_key
        self.minimum, self.maximum, self.integer = minimum, maximum, integer
        kwargs.setdefault("default", dict)
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> dict[str, float]:
        if not isinstance(data, list):
            raise serializers.ValidationError(f"Expected a list of {{{self.word_key}, {self.amount_key}}} objects.")
        errors: dict[str, dict[str, list[str]]] = {}
        amounts: dict[str, float] = {}
        for index, item in enumerate(data):
            problems = self._item_errors(item)
            if problems:
                errors[str(index)] = problems
            elif item[self.word_key] in amounts:
                errors[str(index)] = {self.word_key: ["Listed twice."]}
            else:
                amounts[item[self.word_key]] = item[self.amount_key]
        if errors:
            raise serializers.ValidationError(errors)
        return amounts

    def _item_errors(self, item: Any) -> dict[str, list[str]]:
        if not isinstance(item, dict):
            return {"": [f"Expected an object with {self.word_key} and {self.amount_key}."]}
        problems = {key: ["This field is not known."] for key in item if key not in (self.word_key, self.amount_key)}
        word = item.get(self.word_key)
        if word is None:
            problems[self.word_key] = ["This field is required."]
        elif not isinstance(word, str) or word not in self.vocabulary:
            problems[self.word_key] = [f'"{word}" is not a word of the {self.vocabulary.name} vocabulary.']
        amount = item.get(self.amount_key)
        number_types = (int,) if self.integer else (int, float)
        if amount is None:
            problems[self.amount_key] = ["This field is required."]
        elif isinstance(amount, bool) or not isinstance(amount, number_types):
            problems[self.amount_key] = ["A whole number is required." if self.integer else "A number is required."]
        elif not self.minimum <= amount <= self.maximum:
            problems[self.amount_key] = [f"Must be between {self.minimum:g} and {self.maximum:g}."]
        return problems

    def to_representation(self, value: dict[str, float]) -> list[dict[str, Any]]:
        return [{self.word_key: word, self.amount_key: amount} for word, amount in self.vocabulary.in_order(value)]


class ScoreMapField(serializers.Field):
    """``{word: score}`` for some words of a vocabulary, each score a whole number in a range."""

    def __init__(self, vocabulary: Vocabulary, *, minimum: int, maximum: int, **kwargs: Any) -> None:
        self.vocabulary, self.minimum, self.maximum = vocabulary, minimum, maximum
        kwargs.setdefault("default", dict)
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> dict[str, int]:
        if not isinstance(data, dict):
            raise serializers.ValidationError("Expected an object.")
        errors: dict[str, list[str]] = {}
        for word, score in data.items():
            if word not in self.vocabulary:
                errors[word] = ["This field is not known."]
            elif isinstance(score, bool) or not isinstance(score, int) or not self.minimum <= score <= self.maximum:
                errors[word] = [f"A whole number from {self.minimum} to {self.maximum} is required."]
        if errors:
            raise serializers.ValidationError(errors)
        return data

    def to_representation(self, value: dict[str, int]) -> dict[str, int]:
        return value
