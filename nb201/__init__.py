"""The NAS-Bench-201 library, the floor every other package of the suite stands on: the search
space (Arch), the network, the ground truth, the images, the proxy interface and the results store,
and the training engine. It imports nothing of ``proxies``, ``analysis`` or ``benchmark``."""
