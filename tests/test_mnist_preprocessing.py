"""MNIST's preprocessing of a drawn digit (course_utils.mnist_preprocessing): the ink's box
scaled into 20 x 20 keeping its aspect ratio, area-averaged, centred by mass in 28 x 28 as
MNIST's digits are: re-centring a test digit's own ink box gives the test digit back."""

import numpy as np
import pytest

from course_utils.mnist_preprocessing import (centre_by_mass, fit_into_box, ink, ink_bounding_box,
                                              preprocess_drawing)


def canvas(size=280):
    return np.zeros((size, size), np.uint8)


def centre_of_mass(image):
    rows, cols = np.indices(image.shape)
    mass = image.sum()
    return (rows * image).sum() / mass, (cols * image).sum() / mass


def test_ink_is_an_opacity_of_at_least_128():
    assert ink(np.array([[0, 127, 128, 255]], np.uint8)).tolist() == [[False, False, True, True]]


def test_the_longer_side_becomes_20_and_the_aspect_ratio_stays():
    drawing = canvas()
    drawing[50:250, 100:200] = 255                    # 200 tall, 100 wide
    fitted = fit_into_box(ink(drawing))
    assert fitted.shape == (20, 10) and (fitted == 255).all()
    drawing = canvas()
    drawing[100:130, 20:260] = 255                    # 30 tall, 240 wide: 2.5 x 20
    fitted = fit_into_box(ink(drawing))
    assert fitted.shape == (3, 20)
    assert (fitted[:2] == 255).all() and (fitted[2] == 128).all()   # half covered: 127.5, half up


def test_area_averaging_matches_an_independent_upsampling():
    """Each source pixel as BOX x BOX units, the new pixels as L x L blocks of units: the mean
    of a block is the covered share, computed here with plain reshapes."""
    rng = np.random.default_rng(1)
    for _ in range(10):
        drawing = (rng.random((37, 37)) < 0.3).astype(np.uint8) * 255
        mask = ink(drawing)
        top, left, h, w = ink_bounding_box(mask)
        L = max(h, w)
        units = np.kron(mask[top:top + h, left:left + w], np.ones((20, 20)))
        rows, cols = -(-20 * h // L), -(-20 * w // L)
        padded = np.zeros((rows * L, cols * L))
        padded[:units.shape[0], :units.shape[1]] = units
        share = padded.reshape(rows, L, cols, L).mean(axis=(1, 3))
        assert np.array_equal(fit_into_box(mask), np.floor(255 * share + 0.5).astype(np.uint8))


def test_the_centre_of_mass_lands_within_half_a_pixel_of_the_centre():
    rng = np.random.default_rng(2)
    for _ in range(20):
        drawing = canvas()
        r, c = rng.integers(0, 200, 2)
        h, w = rng.integers(10, 80, 2)
        drawing[r:r + h, c:c + w] = 255
        drawing[r:r + h // 3, c:c + 2 * w] = 255     # an uneven shape: its mass is off its box's centre
        digit = preprocess_drawing(drawing)
        rows, cols = centre_of_mass(digit.astype(float))
        assert abs(rows - 14) <= 0.5 and abs(cols - 14) <= 0.5      # pixel (14, 14), as MNIST's


def test_recentring_mnist_test_digits_gives_them_back(mnist):
    """MNIST's convention, not the course's own: each test digit's ink box (its nonzero pixels'
    rectangle), placed by centre_by_mass, lands where MNIST put it. The rule that rounds the
    centre of mass to the nearest pixel does this for 9,999 of the 10,000; a rule half a
    pixel off (floor instead of round) for about a quarter of them."""
    _, (x_test, _) = mnist
    same = 0
    for digit in x_test:
        top, left, h, w = ink_bounding_box(digit > 0)
        same += np.array_equal(centre_by_mass(digit[top:top + h, left:left + w]), digit)
    assert same >= 9_990, f"{same} of {len(x_test)} test digits come back where MNIST put them"
    rows, cols = np.mean([centre_of_mass(d.astype(float)) for d in x_test[:1000]], axis=0)
    assert abs(rows - 14) < 0.05 and abs(cols - 14) < 0.05, (rows, cols)


def test_the_digit_moves_with_its_mass_not_with_its_box():
    image = np.zeros((20, 20), np.uint8)
    image[:, :2] = 255                                # all the mass in the two left columns
    image[0, 19] = 255                                # one pixel stretches the box to 20 wide
    placed = centre_by_mass(image)
    assert placed[:, 13:15].sum() > 0.9 * placed.sum()


def test_an_empty_drawing_gives_an_empty_digit():
    assert (preprocess_drawing(canvas()) == 0).all()
    assert preprocess_drawing(canvas()).shape == (28, 28)


def test_errors_name_the_argument():
    with pytest.raises(ValueError, match="^opacity"):
        preprocess_drawing(np.zeros((280, 280, 4)))
