"""Stage 1, data and faces: where the data lives (``paths``), the face data sets (``datasets``: LFW,
CelebA-299, folders of identities), LFW's verification pairs (``pairs``), the study's identity
split (``split``), the papers' crops and network inputs (``preprocessing``), 5-point alignment
(``alignment``), facial points of a photo (``landmarks``) and the face-box files (``facefiles``)."""
