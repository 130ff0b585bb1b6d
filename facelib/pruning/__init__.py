"""Stage 5, filter pruning that really removes filters (Molchanov et al. 2017 Taylor scores, as used
by Alonso-Fernandez et al.).

Usable on its own, as Torch-Pruning is: ``groups`` (coupled channels), ``criteria`` (Taylor and the
baselines, one interface), ``selection`` (which filters go), ``surgery`` (removing them) and
``reconstruction`` (refitting the layers that read removed channels; its criterion: ``reconstruction_error``)
import only torch and the network definitions. The papers' iterative run is ``loop`` (train and score,
remove, fine-tune, evaluate, record), with its configuration (``config``), the training between
steps (``retrain``), a refitted identity classifier (``head``) and its tables (``log``).
"""

# The importance criteria by name, importable without torch (the study's declarations read names
# only); ``criteria.CRITERIA`` maps each to its class.
CRITERION_NAMES = ("taylor", "l1", "weight_taylor", "random", "reconstruction")
