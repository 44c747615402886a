# The sidecar variant: PostgreSQL (official image) on EFS in its own task with no network exposure beyond
# the task, and the dbkeep daemon as a second, non-essential container of the same task. In awsvpc mode the
# containers share the network namespace, so dbkeep reaches the database on 127.0.0.1. The module supplies
# the roles, log group, alarm topic, lifecycle rule and the container definition; create_schedule = false
# because the daemon schedules in-process. The module's SNS alarm watches its own task family only: alert on
# the daemon's metrics (time() - dbkeep_last_success_timestamp_seconds) or its log group for this variant.
terraform {
  required_version = ">= 1.5"
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.30"
    }
  }
}

provider "aws" {
  region = "eu-central-1"
}

locals {
  cluster_arn     = "arn:aws:ecs:eu-central-1:123456789012:cluster/prod"
  subnet_ids      = ["subnet-0123456789abcdef0"]
  sg_ids          = ["sg-0123456789abcdef0"]
  db_password_arn = "arn:aws:ssm:eu-central-1:123456789012:parameter/prod/app-db-password"
  pgdata_efs_id   = "fs-0123456789abcdef0"
}

module "dbkeep" {
  source = "../.."

  name            = "app-db-backup"
  image           = "123456789012.dkr.ecr.eu-central-1.amazonaws.com/dbkeep:0.1.0"
  cluster_arn     = local.cluster_arn
  create_schedule = false

  subnet_ids         = local.subnet_ids
  security_group_ids = local.sg_ids

  bucket_name   = "acme-db-backups"
  bucket_prefix = "prod/app-db"

  targets = {
    app = {
      engine          = "postgres"
      url             = "postgres://postgres@127.0.0.1:5432/app"
      schedule        = "0 3 * * *"
      timezone        = "Europe/Berlin"
      password_secret = local.db_password_arn
      keep            = { daily = 14 }
    }
  }

  # ECS gives the dbkeep container stop_timeout seconds after SIGTERM; the daemon lets a running backup
  # finish for shutdown_grace of them, then aborts it cleanly.
  stop_timeout   = 120
  shutdown_grace = 100
}

resource "aws_ecs_task_definition" "app_db" {
  family                   = "app-db"
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = "1024"
  memory                   = "3072"
  execution_role_arn       = module.dbkeep.execution_role_arn
  task_role_arn            = module.dbkeep.task_role_arn

  container_definitions = jsonencode([
    {
      name      = "postgres"
      image     = "postgres:15"
      essential = true
      environment = [
        { name = "POSTGRES_DB", value = "app" },
        { name = "PGDATA", value = "/var/lib/postgresql/data/pgdata" },
      ]
      secrets     = [{ name = "POSTGRES_PASSWORD", valueFrom = local.db_password_arn }]
      mountPoints = [{ sourceVolume = "pgdata", containerPath = "/var/lib/postgresql/data" }]
      stopTimeout = 120
      logConfiguration = {
        logDriver = "awslogs"
        options = {
          awslogs-group         = module.dbkeep.log_group_name
          awslogs-region        = "eu-central-1"
          awslogs-stream-prefix = "postgres"
        }
      }
    },
    merge(module.dbkeep.sidecar_container_definition, {
      dependsOn = [{ containerName = "postgres", condition = "START" }]
    }),
  ])

  volume {
    name = "pgdata"
    efs_volume_configuration {
      file_system_id     = local.pgdata_efs_id
      transit_encryption = "ENABLED"
    }
  }
}

resource "aws_ecs_service" "app_db" {
  name            = "app-db"
  cluster         = local.cluster_arn
  task_definition = aws_ecs_task_definition.app_db.arn
  desired_count   = 1
  launch_type     = "FARGATE"

  network_configuration {
    subnets          = local.subnet_ids
    security_groups  = local.sg_ids
    assign_public_ip = false
  }
}

output "task_role_arn" {
  value = module.dbkeep.task_role_arn
}

output "sns_topic_arn" {
  value = module.dbkeep.sns_topic_arn
}
