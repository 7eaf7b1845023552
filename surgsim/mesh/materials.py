"""Built-in soft-tissue material table.

Values are order-of-magnitude soft-tissue figures for a training simulator, not patient measurements; each comes with
the source it was taken from. Soft tissue is non-linear and visco-elastic: the Young's modulus here is the small-strain
(linear) value that a mass-spring model can represent.

- ``density_kg_m3``: mass density.
- ``youngs_modulus_pa``: small-strain Young's modulus E.
- ``poisson_ratio``: ν; soft tissue is nearly incompressible (0.45–0.49).
- ``damping_ratio``: fraction of critical damping of the lowest mode, a tuning value for the solver
  (visco-elastic tissue is strongly damped; 1.0 would be critical).
- ``tear_strain``: the tissue's failure strain: a tet tears when its maximum principal stretch stays above
  1 + ``tear_strain`` (see :mod:`surgsim.coupling.tearing`).
- ``bed_modulus_pa``, ``bed_thickness_m``: the loose connective tissue that ties this organ to its bed or ligament
  where a procedure *attaches* a region (``attachments`` of an organ): each node there is tied to its rest position
  by a zero-length spring of stiffness E_bed V_i / t_bed², V_i the node's share of the organ's volume (its mass over
  the density), so that the region's bed acts as a layer of modulus E_bed and thickness t_bed whatever the mesh.
"""

from __future__ import annotations

from dataclasses import dataclass

from surgsim.errors import InputError


@dataclass(frozen=True)
class Material:
    name: str
    density_kg_m3: float
    youngs_modulus_pa: float
    poisson_ratio: float
    damping_ratio: float
    tear_strain: float
    # Bed or ligament (see above): loose areolar connective tissue in a layer a few millimetres thick. No measurement
    # of a gallbladder bed was found: 10 kPa is an assumed value of the order of the softest soft tissues (adipose
    # 3.25 kPa, fibroglandular ~4-20 kPa, Samani et al. 2007, Phys Med Biol 52:1565); the same for every organ.
    bed_modulus_pa: float = 10.0e3
    bed_thickness_m: float = 0.005

MATERIALS: dict[str, Material] = {
    # density: IT'IS Foundation tissue property database v4.1 (2022), "Liver" 1079 kg/m³.
    # E: MR elastography of healthy human liver, shear modulus ≈ 2.0 kPa (Yin et al. 2007, Clin Gastroenterol
    #    Hepatol 5:1207); E = 3G for an incompressible solid ≈ 6 kPa.
    # tear: the liver's surface fails with its capsule: ultimate local strain 47 ± 29 % (Brunon et al. 2010,
    #    J Biomech 43:2221, human and porcine capsule in quasi-static tension; a study of the capsule, not of the
    #    parenchyma). Parenchyma coupons in uniaxial tension: Kemper et al. 2010, Ann Adv Automot Med 54:15 (data
    #    modelled in Untaroiu et al. 2015, J Mech Behav Biomed Mater 41:280), rate-dependent. 0.47 used.
    "liver": Material("liver", 1079.0, 6.0e3, 0.45, 0.3, 0.47),
    # density: IT'IS database, "Gallbladder" 1071 kg/m³.
    # E: bile-filled organ; the wall alone is far stiffer in uniaxial tests (~0.1-1 MPa, Karimi et al. 2017,
    #    "Measurement of the mechanical properties of the human gallbladder", J Med Eng Technol,
    #    doi 10.1080/03091902.2017.1366561); 20 kPa is an effective whole-organ value chosen for simulation.
    # tear: wall failure strain ~40 % (same source, order of magnitude).
    "gallbladder": Material("gallbladder", 1071.0, 20.0e3, 0.45, 0.3, 0.40),
    # density: IT'IS database, "Fat" 911 kg/m³.
    # E: breast adipose tissue 3.25 kPa at small strain (Samani et al. 2007, Phys Med Biol 52:1565).
    # tear: loose adipose tissue parts easily; ~50 % is a common simulation value.
    "fat": Material("fat", 911.0, 3.25e3, 0.45, 0.5, 0.50),
    # density: IT'IS database, "Blood Vessel Wall" 1102 kg/m³.
    # E: arterial wall incremental modulus in the physiological range 0.1-1 MPa (Humphrey 2002, Cardiovascular
    #    Solid Mechanics, ch. 7); 300 kPa used.
    # tear: arteries rupture beyond ~50-100 % strain (Humphrey 2002); 60 % used.
    "vessel": Material("vessel", 1102.0, 300.0e3, 0.45, 0.2, 0.60),
    # density: IT'IS database, "Skin" 1109 kg/m³.
    # E: in-vivo human skin by optical coherence elastography 100-150 kPa (Liang & Boppart 2010, IEEE TBME 57:953).
    # tear: human skin fails at ~50-60 % strain (Ní Annaidh et al. 2012, J Mech Behav Biomed Mater 5:139).
    "skin": Material("skin", 1109.0, 130.0e3, 0.45, 0.2, 0.55),
    # Generic soft tissue: water density, liver-like stiffness.
    "generic": Material("generic", 1000.0, 10.0e3, 0.45, 0.3, 0.40),
}


def material(name: str) -> Material:
    """The built-in material called ``name``; an :class:`InputError` lists the known names otherwise."""
    key = name.strip().lower()
    if key not in MATERIALS:
        raise InputError("--material", f"unknown material '{name}'; known materials: {', '.join(MATERIALS)}.")
    return MATERIALS[key]


def material_for_region(region_name: str) -> Material:
    """The material whose name matches a region name (``liver`` → liver), else ``generic``."""
    return MATERIALS.get(region_name.strip().lower(), MATERIALS["generic"])
