"""Every chart and image the pages show is built in this package, from plain tensors and
numbers: plotly figures for charts, uint8 arrays for image grids. A page's figures are in the
module named after it (the Draw page's in ``draw.py``, the Train page's in ``train.py``), beside
the page's lesson in ``aedemo.lessons``; what several pages draw with is shared:

  images.py      28x28 tensors -> crisp uint8 pictures and mosaics (every image page)
  series.py      time series against their reconstructions (a job's preview)
  style.py       the palette, the layout, frozen figures and labelled lines
"""
