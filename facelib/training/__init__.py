"""Stage 4, training: the configuration (``config``), the faces a run learns from (``trainset``), the
plain softmax loop (``loop``) with its optimizer and schedule (``optimizer``), distillation towards
the reference model (``distill``) and its online teacher (``teacher``), mixed precision
(``precision``) and steady step times (``allocator``)."""
