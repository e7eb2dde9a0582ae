"""One module per generative method, each readable next to its paper's algorithm box.

``METHODS`` maps the name used by ``tinygen run NAME`` to its module; every
module defines ``Config`` (a :class:`~tinygen.methods.common.RunConfig`
dataclass with the paper's defaults) and ``train(config) -> run folder``.
"""
METHODS = {
    # name on the command line -> module (imported only when used)
    "gan": "tinygen.methods.gan",
    "dcgan": "tinygen.methods.dcgan",
    "wgan": "tinygen.methods.wgan",
    "wgan-gp": "tinygen.methods.wgan_gp",
    "autoencoder": "tinygen.methods.autoencoder",
    "vae": "tinygen.methods.vae",
}
