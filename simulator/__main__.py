"""``python -m simulator`` is the ``failsim`` command."""

from simulator.cli import main

if __name__ == "__main__":
    main()
