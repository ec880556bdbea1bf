"""``python -m simulator`` is the ``failsim`` command."""

from simulator.interrupt import main

if __name__ == "__main__":
    main()
