"""The `gradflow` command line: a thin layer that parses, calls the library, formats or saves.
The top floor: it may import every other subpackage, and nothing in gradflow imports it.
"""

from .base import ablate, main, plot
from . import ablate_cmd, cliff_cmd, jacobians_cmd, lyapunov_cmd, plot_cmds  # noqa: F401
from . import skip_cmd  # noqa: F401  (ablate skip, plot skip)
from . import skip_training_cmd  # noqa: F401  (ablate skip-training, plot skip-training)
from . import truncation_cmd  # noqa: F401  (ablate truncation, plot truncation)
from . import gallery_cmds  # noqa: F401  (plot phase, heatmap, spectrum, gates)
from . import depth_plot_cmds  # noqa: F401  (plot depth, sensitivity)
from . import sweep_cmd  # noqa: F401  (sweep)
from . import training_flow_cmd  # noqa: F401  (plot training-flow)
from . import flossing_cmd  # noqa: F401  (ablate flossing, plot flossing)
from . import memory_cmd  # noqa: F401  (plot memory)

__all__ = ["main", "plot", "ablate"]
