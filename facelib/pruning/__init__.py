"""Filter pruning that really removes filters (Molchanov et al. 2017 Taylor scores, as used by
Alonso-Fernandez et al.): ``groups`` (coupled channels), ``surgery`` (removal), ``scores``
(Taylor and baseline criteria), ``loop`` (the iterative prune / fine-tune run)."""
from facelib.pruning.groups import Group, channel_groups, size
from facelib.pruning.scores import pruned_to
from facelib.pruning.surgery import mask_channels, remove_channels, remove_chosen, shrink_to

__all__ = ["Group", "channel_groups", "size", "mask_channels", "remove_channels", "pruned_to", "remove_chosen",
           "shrink_to"]
