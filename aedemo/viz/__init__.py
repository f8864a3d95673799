"""Every chart and image the pages show is built in this package, one module per subject, from
plain tensors and numbers: plotly figures for charts, uint8 arrays for image grids.

  images.py      28x28 tensors -> crisp uint8 pictures and mosaics
  training.py    loss curves and the architecture diagram (Home, Train)
  series.py      time series against their reconstructions (Train, Sequences)
"""

from aedemo.viz.images import image_grid, to_pixels
from aedemo.viz.series import series_figure
from aedemo.viz.training import architecture_figure, loss_curve

__all__ = ["architecture_figure", "image_grid", "loss_curve", "series_figure", "to_pixels"]
