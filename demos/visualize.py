"""What ConvNets learn, on a classifier trained here, offline, in about a minute.

    python demos/visualize.py [--out DIR] [--steps 300] [--units 8] [--vgg]
    (the same as `tinygen demo visualize`)

1. Trains a LeNet-style classifier (tinygen.models.LeNet, widths 8 and 16) on the
   synthetic digits (tinygen.data.load_dataset("digits"); no download).
2. Computes the exact receptive field of conv1 (5x5) and conv2 (14x14) units.
3. For each of the first channels of conv1 and conv2: the nine test-set patches that
   excite it most (Zeiler & Fergus 2014, arXiv:1311.2901), and the input that
   maximises it by regularised gradient ascent (Simonyan et al. 2014, arXiv:1312.6034;
   Yosinski et al. 2015, arXiv:1506.06579), cropped to the receptive field.
4. With --vgg and the VGG19 weights present: activation maximisation of VGG19 units.

Writes DIR/conv1_top9.png, conv1_maximisation.png, conv2_top9.png, conv2_maximisation.png.
See docs/visualize.md for the method and the pictures.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from tinygen.methods.visualize import demo_main  # noqa: E402

if __name__ == "__main__":
    sys.exit(demo_main(sys.argv[1:]))
