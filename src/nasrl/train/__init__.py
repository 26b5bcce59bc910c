"""Training one network: the loop (`loop.fit`), the `nasrl train` command (`command`) and its figures (`plots`)."""
