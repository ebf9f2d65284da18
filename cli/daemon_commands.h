// `mlxr serve` and the commands that talk to a running daemon (or work in-process without one).
#pragma once

namespace mlxr::cli {

int cmd_serve(int argc, char** argv);
int cmd_list(int argc, char** argv);
int cmd_ps(int argc, char** argv);
int cmd_pull(int argc, char** argv);
int cmd_rm(int argc, char** argv);
int cmd_show(int argc, char** argv);

}  // namespace mlxr::cli
