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
- ``relaxation_share`` g1 and ``relaxation_time_s`` τ1: one Maxwell branch (a standard linear solid). Held at a fixed
  strain the stress decays as E(t) = E (1 − g1 (1 − e^{−t/τ1})): from E at once to (1 − g1) E after a few τ1. The
  ``youngs_modulus_pa`` above is taken as the *instantaneous* modulus, because the liver's and skin's are dynamic
  measurements (MR and optical elastography, at tens of Hz and above: far faster than τ1); the long-term modulus is
  (1 − g1) E. Only used with ``SolverOptions.viscoelastic = "from_material"``; g1 = 0 (the default of a custom
  material) is purely elastic.
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
    relaxation_share: float = 0.0
    relaxation_time_s: float = 1.0

MATERIALS: dict[str, Material] = {
    # density: IT'IS Foundation tissue property database v4.1 (2022), "Liver" 1079 kg/m³.
    # E: MR elastography of healthy human liver, shear modulus ≈ 2.0 kPa (Yin et al. 2007, Clin Gastroenterol
    #    Hepatol 5:1207); E = 3G for an incompressible solid ≈ 6 kPa.
    # tear: the liver's surface fails with its capsule: ultimate local strain 47 ± 29 % (Brunon et al. 2010,
    #    J Biomech 43:2221, human and porcine capsule in quasi-static tension; a study of the capsule, not of the
    #    parenchyma). Parenchyma coupons in uniaxial tension: Kemper et al. 2010, Ann Adv Automot Med 54:15 (data
    #    modelled in Untaroiu et al. 2015, J Mech Behav Biomed Mater 41:280), rate-dependent. 0.47 used.
    # relaxation: τ1 = 1.86 s is the shorter of the two time constants (1.86 s and 51.3 s) that Kerdok et al. 2006
    #    ("Effects of perfusion on the viscoelastic characteristics of liver", J Biomech 39:2221) found to describe
    #    in-vivo and perfused porcine liver under surgical-scale indentation over 300 s; one branch keeps the one that
    #    acts within a held retraction. g1 = 0.5 is assumed: that abstract gives no share; Liu & Bilston 2000
    #    (Biorheology 37:191) describe liver tissue in stress relaxation as "fluid-like" (much of its stress relaxes),
    #    and half of the instantaneous stiffness is taken, a moderate value for a single branch.
    "liver": Material("liver", 1079.0, 6.0e3, 0.45, 0.3, 0.47, relaxation_share=0.5, relaxation_time_s=1.86),
    # density: IT'IS database, "Gallbladder" 1071 kg/m³.
    # E: bile-filled organ; the wall alone is far stiffer in uniaxial tests (~0.1-1 MPa, Karimi et al. 2017,
    #    "Measurement of the mechanical properties of the human gallbladder", J Med Eng Technol,
    #    doi 10.1080/03091902.2017.1366561); 20 kPa is an effective whole-organ value chosen for simulation.
    # tear: wall failure strain ~40 % (same source, order of magnitude).
    # relaxation: assumed as liver (g1 0.5, τ1 1.86 s): no gallbladder relaxation data was found; it is a soft
    #    abdominal organ handled in the same retractions.
    "gallbladder": Material("gallbladder", 1071.0, 20.0e3, 0.45, 0.3, 0.40, relaxation_share=0.5,
                            relaxation_time_s=1.86),
    # density: IT'IS database, "Fat" 911 kg/m³.
    # E: breast adipose tissue 3.25 kPa at small strain (Samani et al. 2007, Phys Med Biol 52:1565).
    # tear: loose adipose tissue parts easily; ~50 % is a common simulation value.
    # relaxation: assumed as liver (g1 0.5, τ1 1.86 s): no adipose relaxation data was found. Note that Samani's E is
    #    a quasi-static indentation value, so for fat (1 − g1) E may understate the long-term stiffness.
    "fat": Material("fat", 911.0, 3.25e3, 0.45, 0.5, 0.50, relaxation_share=0.5, relaxation_time_s=1.86),
    # density: IT'IS database, "Blood Vessel Wall" 1102 kg/m³.
    # E: arterial wall incremental modulus in the physiological range 0.1-1 MPa (Humphrey 2002, Cardiovascular
    #    Solid Mechanics, ch. 7); 300 kPa used.
    # tear: arteries rupture beyond ~50-100 % strain (Humphrey 2002); 60 % used.
    # relaxation: assumed g1 0.2, τ1 1 s: no value was found; the elastin/collagen wall of an artery is the most
    #    elastic of these tissues, so a small share is used.
    "vessel": Material("vessel", 1102.0, 300.0e3, 0.45, 0.2, 0.60, relaxation_share=0.2, relaxation_time_s=1.0),
    # density: IT'IS database, "Skin" 1109 kg/m³.
    # E: in-vivo human skin by optical coherence elastography 100-150 kPa (Liang & Boppart 2010, IEEE TBME 57:953).
    # tear: human skin fails at ~50-60 % strain (Ní Annaidh et al. 2012, J Mech Behav Biomed Mater 5:139).
    # relaxation: Wang et al. 2015 ("Compressive viscoelasticity of freshly excised mouse skin...", PLoS ONE
    #    10:e0120897), one-term quasi-linear viscoelastic fits over a range of stretch levels: relaxation time
    #    τ1 = 0.26 ± 0.14 s and steady-state residual stress ratio G = 0.47 ± 0.17, so g1 = 1 − G = 0.53 (mouse skin,
    #    ex vivo, in compression: the nearest measured value found, not human skin in tension).
    "skin": Material("skin", 1109.0, 130.0e3, 0.45, 0.2, 0.55, relaxation_share=0.53, relaxation_time_s=0.26),
    # Generic soft tissue: water density, liver-like stiffness and relaxation.
    "generic": Material("generic", 1000.0, 10.0e3, 0.45, 0.3, 0.40, relaxation_share=0.5, relaxation_time_s=1.86),
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
