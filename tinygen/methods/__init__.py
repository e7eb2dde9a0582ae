"""One module per generative method, each readable next to its paper's algorithm box.

``METHODS`` maps the name used by ``tinygen run NAME`` to its module; every module
defines ``Config`` (a :class:`~tinygen.methods.run.RunConfig` dataclass with the paper's
defaults, one comment per field) and ``train(config) -> run folder``, its own loop on the
run contract of :mod:`tinygen.methods.run`. Modules with dataset-aware defaults also define
``PRESETS`` / ``PRESET_DOCS`` / ``default_preset(dataset)``; generative ones ``sample_run``.
"""
METHODS = {
    # name on the command line -> module (imported only when used)
    # the GAN family
    "gan": "tinygen.methods.gan",
    "dcgan": "tinygen.methods.dcgan",
    "wgan": "tinygen.methods.wgan",
    "wgan-gp": "tinygen.methods.wgan_gp",
    # labels
    "cgan": "tinygen.methods.cgan",
    "sgan": "tinygen.methods.sgan",
    "bigan": "tinygen.methods.bigan",
    "acgan": "tinygen.methods.acgan",
    "infogan": "tinygen.methods.infogan",
    # growing, styles, volumes
    "progan": "tinygen.methods.progan",
    "stylegan": "tinygen.methods.stylegan",
    "gan3d": "tinygen.methods.gan3d",
    # image-to-image translation
    "pix2pix": "tinygen.methods.pix2pix",
    "cyclegan": "tinygen.methods.cyclegan",
    "stargan": "tinygen.methods.stargan",
    "deblurgan": "tinygen.methods.deblurgan",
    # text to image
    "stackgan": "tinygen.methods.stackgan",
    # applications: face frontalisation, pixel-level domain transfer
    "tpgan": "tinygen.methods.tpgan",
    "pixeldtgan": "tinygen.methods.pixeldtgan",
    # autoencoders, style transfer
    "autoencoder": "tinygen.methods.autoencoder",
    "vae": "tinygen.methods.vae",
    "style": "tinygen.methods.style_transfer",
    # super-resolution
    "srresnet": "tinygen.methods.srresnet",
    "edsr": "tinygen.methods.edsr",
    "wdsr": "tinygen.methods.wdsr",
    "srgan": "tinygen.methods.srgan",
}

