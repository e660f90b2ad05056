"""``python -m emma_local.lab.recommend`` (``--help``): the evaluation's command line."""

from emma_local.lab.recommend.report import main

raise SystemExit(main())
