from triergon_studio.cli import main

raise SystemExit(main())
