"""Colours of everything drawn: tissue by region or material name, instruments, rigid anatomy, the background.

Colours are linear RGB triples in 0..1. A tissue region is coloured by the first palette entry whose key occurs in
its name ("right_hepatic_vein" → vein → blue), then by its material name, then the generic pink, so that organs
imported from any label map get a plausible colour without configuration.
"""

from __future__ import annotations

Colour = tuple[float, float, float]

# Order matters: more specific keys first ("gallbladder" before "liver"-like substrings, "bile_duct" before "duct").
TISSUE_COLOURS: tuple[tuple[str, Colour], ...] = (
    ("gallbladder", (0.36, 0.58, 0.24)),
    ("bile", (0.55, 0.66, 0.25)),
    ("duct", (0.55, 0.66, 0.25)),
    ("liver", (0.55, 0.20, 0.15)),
    ("artery", (0.78, 0.12, 0.12)),
    ("arterial", (0.78, 0.12, 0.12)),
    ("aorta", (0.78, 0.12, 0.12)),
    ("vein", (0.22, 0.30, 0.70)),
    ("venous", (0.22, 0.30, 0.70)),
    ("cava", (0.22, 0.30, 0.70)),
    ("portal", (0.22, 0.30, 0.70)),
    ("vessel", (0.22, 0.30, 0.70)),
    ("fat", (0.90, 0.78, 0.38)),
    ("skin", (0.87, 0.68, 0.58)),
    ("generic", (0.88, 0.56, 0.58)),
)
GENERIC_TISSUE: Colour = (0.88, 0.56, 0.58)

RIGID_ANATOMY: Colour = (0.86, 0.84, 0.78)
INSTRUMENT_SHAFT: Colour = (0.55, 0.57, 0.60)
INSTRUMENT_JAW: Colour = (0.25, 0.26, 0.28)
CLIP: Colour = (0.80, 0.78, 0.70)  # titanium, warmed by the scope's light
ENERGY_GLOW: Colour = (1.0, 0.55, 0.15)
CHARRED: Colour = (0.10, 0.07, 0.05)
BACKGROUND: Colour = (0.05, 0.03, 0.03)


def tissue_colour(*names: str | None) -> Colour:
    """The colour of a region: the first name (region, then material) that matches a palette key, else pink."""
    for name in names:
        if not name:
            continue
        lowered = name.lower()
        for key, colour in TISSUE_COLOURS:
            if key in lowered:
                return colour
    return GENERIC_TISSUE
