"""What is seen and how it is looked at, as plain data below rendering and devices: the laparoscope's pose and its
maths (:mod:`surgsim.view.camera`) and the input events a window reports (:mod:`surgsim.view.input`).

Rendering (:mod:`surgsim.render`) draws with them and devices (:mod:`surgsim.devices`) move the camera and read
the events with them, so that a device never imports rendering. Numpy only: no OpenGL, no window.
"""
