"""Stage 8, the findings, from ``results/`` alone: the papers' claims with their intervals
(``claims``) and verdicts (``verdicts``), the pretrained MobileFaceNet's (``pretrained``), what else
the tables show (``analysis``), the README's generated parts and docs/results.md (``report``) and the figures shared by
notebooks and dashboard (``figures``)."""
