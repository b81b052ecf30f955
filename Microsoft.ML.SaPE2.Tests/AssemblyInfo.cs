// TorchSharp state (threads, seeds, the default dtype) is process-wide: run the tests one at a time.
[assembly: Microsoft.VisualStudio.TestTools.UnitTesting.DoNotParallelize]
