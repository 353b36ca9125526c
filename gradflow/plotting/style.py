"""One look for every figure: a colour per cell, colour-blind safe, and paper-sized defaults."""

import matplotlib.pyplot as plt

__all__ = ["OKABE_ITO", "CELL_COLORS", "cell_color", "get_ax", "ONE_COLUMN", "TWO_COLUMN", "RC",
           "SAVE_METADATA", "MISSING_COLOR"]

# Okabe & Ito (2008), "Color Universal Design": distinguishable under the common colour blindnesses.
OKABE_ITO = ["#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2", "#D55E00", "#CC79A7", "#000000"]
CELL_COLORS = {"rnn": "#D55E00", "lstm": "#0072B2", "gru": "#009E73", "gru_torch": "#CC79A7",
               # the modern cells: the rest of the palette, and a purple (gru_torch's pink is
               # shared with the orthogonal RNN: the two are not compared in one figure)
               "indrnn": "#7F5F9F", "mingru": "#56B4E9", "minlstm": "#000000", "lru": "#E69F00",
               "orthogonal": "#CC79A7"}
ONE_COLUMN = (3.5, 2.6)  # inches: one column of a two-column paper
TWO_COLUMN = (7.0, 2.6)  # inches: the full text width, for figures with two or more panels
# Constrained layout, not savefig.bbox='tight': 'tight' crops or grows the saved figure, so a
# file would not have the --width x --height the user asked for; constrained layout fits the
# labels inside the figure instead and the size is exact.
RC = {"font.size": 8, "axes.titlesize": 8, "axes.labelsize": 8, "legend.fontsize": 7,
      "xtick.labelsize": 7, "ytick.labelsize": 7, "lines.linewidth": 1.2,
      "figure.constrained_layout.use": True, "figure.constrained_layout.h_pad": 0.03,
      "figure.constrained_layout.w_pad": 0.03}

# What savefig writes besides the picture. Matplotlib stamps every file with its version (PNG
# 'Software', PDF 'Creator' and 'Producer', SVG 'Creator') and PDF and SVG with today's date, so
# the same figure would differ byte for byte between days and library versions. A figure file
# here records what drew it (gradflow), not when or with which matplotlib; the numbers behind it
# carry their own metadata (--save-results).
SAVE_METADATA = {"png": {"Software": "gradflow"},
                 "pdf": {"Creator": "gradflow", "Producer": None, "CreationDate": None},
                 "svg": {"Creator": "gradflow", "Date": None}}
# Where a quantity is not defined (the upper triangle of the pairwise heatmap): a neutral grey
# that no diverging colour map uses, so "undefined" is never read as "log10 norm = 0" (white).
MISSING_COLOR = "0.82"


def cell_color(name, index=0):
    """The colour of cell `name` in every figure; other names cycle through the palette."""
    return CELL_COLORS.get(name, OKABE_ITO[index % len(OKABE_ITO)])


def get_ax(ax):
    """`ax`, or the current Axes when it is None."""
    return plt.gca() if ax is None else ax
