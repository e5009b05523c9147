// Executes a GPUMD run.in (the documented subset below) in a directory holding model.xyz, so that
// a GPUMD user's simple input runs unchanged with `nepcg run` (docs/simulator.md).
//
// Keywords: potential FILE (nep*.txt, LAMMPS *.eam.alloy / *.eam / *.tersoff), velocity T [seed S],
// time_step DT (fs), ensemble nve | nvt_ber | nvt_bdp | nvt_nhc | nvt_lan | nvt_bao (T1 T2 tau) |
// npt_ber | npt_scr (T1 T2 tau_T + p C tau_p, or 3+3+tau_p, or 6+6+tau_p), deform A x y z
// (or Ax Ay Az x y z; Å per step), fix [method] group, dump_thermo N (thermo.out), dump_exyz N
// [has_velocity [has_force [has_potential]]] (dump.xyz), dump_xyz N FILE [group M ID]
// [precision P] [properties] (or the older M ID N FILE [properties]), dump_restart N
// (restart.xyz), replicate na nb nc (before the first run), dump_cg N M (NEP-CG data: beads of grouping method 0 held, one frame of mean
// forces of the beads of method M appended to train.xyz per run; bead_name.txt), run N. Times tau are in time steps and deform in Å per step, converted at each
// run with its time step; pressures and moduli in GPa, as in GPUMD. Anything else, and values
// the Simulator or an observer refuses, is an error naming the line.
#pragma once

#include <functional>
#include <string>

namespace nepcg {

/// Runs `input` (a run.in path) with model.xyz from `directory` (default: the folder of input).
/// Output files go to `directory`. `log` receives progress lines (may be empty).
void run_gpumd_input(const std::string& input, const std::string& directory = "",
                     const std::function<void(const std::string&)>& log = {});

}  // namespace nepcg
