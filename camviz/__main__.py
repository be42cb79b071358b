"""`python -m camviz ...`, so that `torchrun --nproc-per-node N -m camviz explain ...` works."""

from camviz.cli.main import main

if __name__ == "__main__":
    main()
