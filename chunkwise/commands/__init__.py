"""One module per `chunkwise` subcommand; `common` holds the flags they share."""
