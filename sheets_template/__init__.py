"""The spreadsheet layout as data (``layout.toml``): the single source of every tab's columns and formats."""
