"""Binary formats of WebAssembly core modules and components: read and write, nothing else."""
