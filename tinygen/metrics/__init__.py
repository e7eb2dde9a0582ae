"""Evaluation maths on plain host arrays (NumPy/SciPy, float64).

divergences      KL, JS, Earth-Mover (transport LP), 1-D Wasserstein, WGAN's parallel lines,
                 the optimal discriminator and the GAN value function on a grid
modes            mode coverage / high-quality fraction for the 2-D toy mixtures
fid              Frechet distance on feature statistics, statistics files
inception_score  Inception Score from class probabilities or logits
image_quality    PSNR, SSIM (scikit-image conventions), BT.601 Y-channel variants for SR
precision_recall k-NN manifold precision and recall (Kynkaanniemi et al. 2019)

See docs/metrics.md for the maths and the pitfalls.
"""
from tinygen.metrics.divergences import (  # noqa: F401
    kl_divergence, js_divergence, earth_movers_distance, wasserstein_1d, parallel_lines,
    boxes_example, optimal_discriminator, gan_value,
)
from tinygen.metrics.modes import mode_coverage, ring_centres, grid_centres  # noqa: F401
from tinygen.metrics.fid import (  # noqa: F401
    frechet_distance, frechet_distance_eig, feature_statistics, fid_from_features,
    compute_features, compute_statistics_of, save_statistics, load_statistics,
)
from tinygen.metrics.inception_score import inception_score  # noqa: F401
from tinygen.metrics.image_quality import (  # noqa: F401
    mse, psnr, ssim, rgb_to_y, psnr_y, ssim_y,
)
from tinygen.metrics.precision_recall import precision_recall, knn_radii, in_manifold  # noqa: F401
