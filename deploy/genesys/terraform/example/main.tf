# A root configuration calling the module: copy it, fill in your ids, then
#   export GENESYSCLOUD_OAUTHCLIENT_ID=... GENESYSCLOUD_OAUTHCLIENT_SECRET=... GENESYSCLOUD_REGION=us-east-1
#   terraform init && terraform apply
#   terraform output -raw trunkguard_config
terraform {
  required_providers {
    genesyscloud = {
      source  = "mypurecloud/genesyscloud"
      version = "~> 1.84"
    }
  }
}

provider "genesyscloud" {
}

module "routing_matrix" {
  source = "../"

  primary_trunk_base_id   = "4c1a7f0e-0000-4000-8000-00000000000a"
  secondary_trunk_base_id = "4c1a7f0e-0000-4000-8000-00000000000b"
  site_id                 = "9a1c0000-0000-4000-8000-000000000001"
  region                  = "us_east_1"
  dnis                    = ["+13175550000", "+13175550001"]
  standard_queue          = "Customer Service"
  failover_queue          = "Customer Service"
  overflow_queue          = "Overflow"
  sweep_caller_number     = "+13175559999"
}

output "trunkguard_config" {
  value = module.routing_matrix.trunkguard_config
}
