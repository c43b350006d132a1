"""Classification markings, damage levels and the storage guard (DOMAIN.md, "The storage principle").

Pure values and rules, no database: the system is unclassified by design, so every marking a
user records is checked against the deployment's ceiling (`SAKSKYDD_MAX_CLASSIFICATION`,
never above BEGRÄNSAT HEMLIG). A referenced document may carry any marking — only its
reference is stored — but a record's own text may not be marked above the ceiling.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Final


class Classification(enum.IntEnum):
    """Säkerhetsskyddsklass of a document or field; the number is what clearance compares."""

    NONE = 0
    BEGRANSAT_HEMLIG = 1
    KONFIDENTIELL = 2
    HEMLIG = 3
    KVALIFICERAT_HEMLIG = 4


CLASSIFICATION_LABELS: Final[Mapping[int, str]] = {
    Classification.NONE: "Ej säkerhetsskyddsklassificerad",
    Classification.BEGRANSAT_HEMLIG: "BEGRÄNSAT HEMLIG",
    Classification.KONFIDENTIELL: "KONFIDENTIELL",
    Classification.HEMLIG: "HEMLIG",
    Classification.KVALIFICERAT_HEMLIG: "KVALIFICERAT HEMLIG",
}


class DamageLevel(enum.StrEnum):
    """Konsekvens / skadenivå for Sveriges säkerhet (DOMAIN.md, the classification table)."""

    NONE = "ingen"
    MINOR = "ringa"
    NOT_INSIGNIFICANT = "inte_obetydlig"
    SERIOUS = "allvarlig"
    EXCEPTIONALLY_SERIOUS = "synnerligen_allvarlig"

    @property
    def rank(self) -> int:
        return list(DamageLevel).index(self)


DAMAGE_LEVEL_LABELS: Final[Mapping[str, str]] = {
    DamageLevel.NONE: "Ingen skada / ej säkerhetskänslig",
    DamageLevel.MINOR: "Ringa skada",
    DamageLevel.NOT_INSIGNIFICANT: "Inte obetydlig skada",
    DamageLevel.SERIOUS: "Allvarlig skada",
    DamageLevel.EXCEPTIONALLY_SERIOUS: "Synnerligen allvarlig skada",
}

# The classification that a given damage level calls for (säkerhetsskyddslagen 4 kap. 1 §).
CLASSIFICATION_FOR_DAMAGE: Final[Mapping[str, Classification]] = {
    DamageLevel.NONE: Classification.NONE,
    DamageLevel.MINOR: Classification.BEGRANSAT_HEMLIG,
    DamageLevel.NOT_INSIGNIFICANT: Classification.KONFIDENTIELL,
    DamageLevel.SERIOUS: Classification.HEMLIG,
    DamageLevel.EXCEPTIONALLY_SERIOUS: Classification.KVALIFICERAT_HEMLIG,
}

ATTESTATION_TEXT: Final = (
    "Jag intygar att det jag skriver här inte innehåller säkerhetsskyddsklassificerade uppgifter."
)


class ClassificationAboveCeiling(ValueError):
    """A record's own text was marked above what the deployment is assessed for."""

    def __init__(self, marking: int, ceiling: int) -> None:
        self.marking = int(marking)
        self.ceiling = int(ceiling)
        super().__init__(ceiling_message(self.marking, self.ceiling))


CEILING_NAMES: Final[Mapping[int, str]] = {0: "oklassificerad information", 1: "högst BEGRÄNSAT HEMLIG"}


def ceiling_message(marking: int, ceiling: int) -> str:
    """The Swedish explanation shown when text marked `marking` is refused."""
    return (
        f"Uppgifter märkta {CLASSIFICATION_LABELS[marking]} får inte sparas här: sakskydd är bara "
        f"godkänt för {CEILING_NAMES[ceiling]}. Spara endast referensen (diarienummer och var "
        "handlingen förvaras) och lämna textfältet tomt."
    )


def check_text_marking(marking: int, ceiling: int) -> None:
    """Refuse text whose own marking is above the ceiling (ClassificationAboveCeiling)."""
    if int(marking) > int(ceiling):
        raise ClassificationAboveCeiling(marking, ceiling)


def allowed_text_markings(ceiling: int) -> list[int]:
    """The markings a record's own text may carry in this deployment."""
    return [int(c) for c in Classification if c <= ceiling]
