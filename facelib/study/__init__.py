"""Stage 7, the study: the runs declared (``runs``) and sized (``profiles``), turned into
configurations (``configs``), made and resumed (``running``, ``checkpoint``), recorded into
``results/`` and ``models/`` (``record``) and read back (``recorded``, ``bases``); where every file
lives: ``layout``."""
