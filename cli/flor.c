/*
 * flor.c -- main() of the `flor` binary: the command itself is
 * flor_cli_main (main.c), which `python -m flor` calls too.
 */
#include "cli.h"

int main(int argc, char **argv) { return flor_cli_main(argc, argv); }
