"""Device physics of refsim: programming error, PCM model, drift, read noise,
stuck-at faults and output-side effects.

Every function is pure and takes its random draws (standard normals ``xi``,
uniforms ``u``) as arrays; the ``draw_*`` helpers produce them from an explicit
``numpy.random.Generator`` so a caller can record and replay every draw.
Equations, units and sources: ``docs/devices.md``.
"""

from .config import NoiseConfig, pcm_rasch2023_noise
from .drift import (draw_drift, drift_compensation_scale, drift_conductance_S, drift_nu,
                    drift_reference_input_V)
from .faults import apply_stuck_faults_S, stuck_masks
from .output import (add_output_noise_A, add_output_noise_into, apply_ir_drop_rasch2023_A, clip_column_current_A,
                     draw_output_noise, ir_drop_position_weights, ir_drop_rasch2023_delta_A,
                     ir_drop_rasch2023_from_sums, output_noise_sigma_A)
from .pcm import (pcm_drift_nu, pcm_drift_nu_params, pcm_prog_sigma_S, pcm_read_q_s,
                  pcm_read_sigma_S)
from .programming import (add_programming_noise_S, clip_conductance_S, draw_programming,
                          prog_sigma_callable_S, prog_sigma_independent_S,
                          prog_sigma_proportional_S, prog_sigma_S, prog_sigma_table_S,
                          program_conductances)
from .read_noise import (apply_read_noise_per_cell_S, draw_read_noise,
                         output_referred_is_exact, output_referred_read_noise_A, output_referred_std_A,
                         read_noise_bounds, read_noise_clips, read_noise_sigma_S, read_sigma_independent_S,
                         read_sigma_proportional_S, read_sigma_sqrt_state_S,
                         resolve_read_sampling)

__all__ = [
    "NoiseConfig", "pcm_rasch2023_noise",
    "draw_drift", "drift_compensation_scale", "drift_conductance_S", "drift_nu",
    "drift_reference_input_V",
    "apply_stuck_faults_S", "stuck_masks",
    "add_output_noise_A", "add_output_noise_into", "apply_ir_drop_rasch2023_A", "clip_column_current_A",
    "draw_output_noise", "ir_drop_position_weights", "ir_drop_rasch2023_delta_A", "ir_drop_rasch2023_from_sums", "output_noise_sigma_A",
    "pcm_drift_nu", "pcm_drift_nu_params", "pcm_prog_sigma_S", "pcm_read_q_s",
    "pcm_read_sigma_S",
    "add_programming_noise_S", "clip_conductance_S", "draw_programming",
    "prog_sigma_callable_S", "prog_sigma_independent_S", "prog_sigma_proportional_S",
    "prog_sigma_S", "prog_sigma_table_S", "program_conductances",
    "apply_read_noise_per_cell_S", "draw_read_noise", "output_referred_is_exact",
    "output_referred_read_noise_A", "output_referred_std_A", "read_noise_bounds", "read_noise_clips",
    "read_noise_sigma_S",
    "read_sigma_independent_S", "read_sigma_proportional_S", "read_sigma_sqrt_state_S",
    "resolve_read_sampling",
]
