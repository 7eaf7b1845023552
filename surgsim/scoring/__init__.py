"""Scoring a recorded session: metrics per step and for the whole session, a 0-100 score and pass/fail.

Scoring is a pure function of the procedure and a trace (:func:`score_session`); it never re-simulates. ``surgsim
score`` hands it the *re-simulated* trace (:mod:`surgsim.verify`: the trainee's commands replayed, the recording
checked against them within tolerances), or with ``--no-verify`` the recorded one. It reads the instrument *samples*
for motion and force (their per-tick forces where the trace has them), and the *events* for goals, damage and
forbidden contacts.

Steps. The runtime emits ``step_complete`` with ``detail["step"]`` = the step's name when a step's goal is reached;
steps complete in order. Step k's window runs from step k-1's completion (or the start) to its own completion; the
first step not completed runs to the end of the trace; later steps were not reached (all metrics 0 or none). Time
after the last step's completion counts towards the totals only.

Metrics (names as in the report and the rubric; the report explains each in one line,
:data:`surgsim.scoring.report.METRIC_DEFINITIONS`; :mod:`surgsim.scoring.motion` says how samples become intervals):

- ``time_s``: simulated time, from tick 0 to the end record (a truncated trace: to its last record). The FLS
  tasks cut off at 300 s.
- ``idle_time_s``: time in which every instrument tip moved slower than 5 mm/s (``IDLE_SPEED_M_S``), except
  instructed holds (the last ``hold_s`` of a completed retract step: keeping still is the task there). Idle time
  separates novices from experts (D'Angelo et al. 2015, "Idle time: an underdeveloped performance metric for
  assessing surgical skill", Am J Surg 209:645).
- ``path_length_mm``: distance travelled by the instrument tips, summed over instruments; per instrument under
  ``instruments`` (LapSim reports left and right instrument path length).
- ``economy_of_motion``: the straight-line distance between the tip's positions at successive step completions
  ("goal positions"), summed, divided by the path length actually travelled; 1 is a straight line from goal to goal,
  smaller is wandering. This ratio form of economy of motion (path efficiency) follows the motion-analysis metrics
  reviewed by Oropesa et al. 2011 (J Surg Res 171:e81); it is dimensionless, so it compares across procedures.
  None when the tips did not move. It says nothing when a goal is itself a closed path (cutting out a circle ends
  where it began), so such procedures leave it out of their rubric.
- Forces, from every tick (the samples' ``tick_forces_n``; a trace from before them: the samples'):
  ``max_force_N`` the largest force magnitude on any tip; over the time each tip was in contact (force above
  0.05 N, ``CONTACT_FORCE_N``): ``mean_contact_force_N`` (time-weighted mean), ``force_rms_N`` (root mean square)
  and ``force_p95_N`` (95th percentile), None without contact; ``time_above_force_limit_s``: time in which any
  tip's force exceeded the force limit: a step's own ``force_limit_N`` in it, else the procedure's (published
  suture-traction limits lie between 1.25 and 11.43 N).
- ``tissue_damage``: damage *episodes* (a tear that goes on over consecutive ticks is one): tear episodes, cut and
  burn episodes off target, and over-retractions (a retract goal's region pulled beyond its ``max_distance_mm``);
  also reported separately (``tears``, ``torn_springs``, ``cuts_off_target``, ``burns_off_target``,
  ``over_retractions``, ``max_retraction_over_mm``); see :mod:`surgsim.scoring.incidents`. As an area:
  ``torn_area_mm2`` and ``cut_off_target_area_mm2``, the tissue surface (mm², at rest) opened by tears and by cuts
  off target, which the session records with each event (:mod:`surgsim.mesh.opened_area`).
- ``forbidden_contacts``: contacts with forbidden zones that break the zone's limit; ``forbidden_max_force_N``: the
  largest force reported at any forbidden zone.
- ``cut_deviation_mean_mm`` / ``cut_deviation_max_mm``: distance of the cuts made during cut steps from the goal's
  line, and ``cut_within_2mm_fraction`` the share of them within 2 mm of it (FLS pattern cutting scores deviation
  from the marked line; ``max_cut_deviation_max_mm: 2`` makes "every cut within 2 mm" a gate).
- ``goals_completed`` (of ``goals_total``) and ``goals_completed_fraction``.

The rubric (:mod:`surgsim.scoring.rubric`) turns these into the score and the verdict; :mod:`surgsim.scoring.report`
renders them as a table and as deterministic JSON.
"""

from surgsim.scoring.inputs import load_session
from surgsim.scoring.report import ScoreReport
from surgsim.scoring.session import score_session

__all__ = ["ScoreReport", "load_session", "score_session"]
