int tq_aws_placeholder = 0;
