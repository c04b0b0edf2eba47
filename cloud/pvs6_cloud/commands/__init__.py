"""One module per ``pvs6-cloud`` subcommand (discovered by ``pvs6_cloud.cli``)."""
