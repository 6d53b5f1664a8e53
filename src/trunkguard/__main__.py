from trunkguard.cli import main

main()
