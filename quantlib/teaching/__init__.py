"""Teaching: the numbers behind the Learn page, as pure functions that return data.

One module per lesson (:mod:`.why`, :mod:`.methods`, :mod:`.problems`, :mod:`.worked`,
:mod:`.bugs`, :mod:`.challenges`; :mod:`.numbers` writes the numbers); every public name is
importable from here. pandas and ml_dtypes are imported on first use.

* :func:`footprint_table` — memory and memory-bound speed of a model at several bit widths;
* :func:`method_demo` — the four common methods (symmetric, asymmetric, histogram, fixed point);
* :func:`integer_steps`, :func:`float_steps`, :func:`histogram_steps` — one element worked
  out step by step, with quantlib's own float32 arithmetic (so every number equals what
  :func:`quantlib.quantize` / :func:`quantlib.dequantize` give), each step with its LaTeX;
  :func:`worked_example` runs the scheme's own ``worked_example`` hook;
* :func:`wrap_lesson`, :func:`histogram_bin_lesson`, :func:`asymmetric_lesson` — the source
  blog's three bugs, each beside the corrected behaviour;
* :data:`CHALLENGES` and :func:`check_challenge` — classroom goals checked against metrics;
* :data:`FORMATS_IN_USE` — which formats industry and research use, and where they run.
"""

from .numbers import num, tex
from .worked import (BLOG_SCALE, BLOG_VALUES, Step, WorkedExample, affine_example, blog_params, element_params,
                     float_example, float_steps, histogram_example, histogram_steps, integer_steps, worked_example,
                     worked_schemes)
from .why import A100_PEAK_TOPS, footprint_table
from .methods import METHODS, MethodDemo, method_demo, model_quality
from .problems import FORMATS_IN_USE, overhead_table, precision_fixes
from .bugs import HistogramLesson, asymmetric_lesson, histogram_bin_lesson, wrap_curve, wrap_lesson
from .challenges import CHALLENGES, Challenge, ChallengeCheck, check_challenge, code_bits

__all__ = [
    "A100_PEAK_TOPS", "BLOG_SCALE", "BLOG_VALUES", "CHALLENGES", "FORMATS_IN_USE", "METHODS",
    "Challenge", "ChallengeCheck", "HistogramLesson", "MethodDemo", "Step", "WorkedExample",
    "affine_example", "asymmetric_lesson", "blog_params", "check_challenge", "code_bits", "element_params",
    "float_example", "float_steps", "footprint_table", "histogram_bin_lesson", "histogram_example",
    "histogram_steps", "integer_steps", "method_demo", "model_quality", "num", "overhead_table",
    "precision_fixes", "tex", "worked_example", "worked_schemes", "wrap_curve", "wrap_lesson",
]
