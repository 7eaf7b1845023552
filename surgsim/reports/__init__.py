"""HTML reports for instructors: one session, one trainee, a cohort (:mod:`surgsim.reports.kinds`); figures in
:mod:`surgsim.reports.figures`, the page in :mod:`surgsim.reports.page`."""
