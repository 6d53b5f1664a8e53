# Written against MyPureCloud/terraform-provider-genesyscloud v1.84.1 (commit f955430e, 2026-07-01):
# its docs/resources and examples/resources are where every resource and argument below comes from
# (docs/routing-matrix.md lists which file gave which). The provider source is as the vendor's
# blueprints spell it (GenesysCloudBlueprints/dr-fallback-ivr blueprint/terraform-ivr/main.tf).
terraform {
  required_version = ">= 1.3"
  required_providers {
    genesyscloud = {
      source  = "mypurecloud/genesyscloud"
      version = "~> 1.84"
    }
  }
}
