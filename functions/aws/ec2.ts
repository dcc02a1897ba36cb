/** EC2: DescribeInstances, to find a group's routers by tag; see README.md. */
export { DescribeInstancesCommand, EC2Client } from '@aws-sdk/client-ec2';
